-- Purpose: the trigger function that closes a sealed day table to new rows.
-- Rotation puts it on a day's partition (BEFORE INSERT, FOR EACH ROW, trigger
-- audit_events_sealed) just before it seals the day, so that nothing can be
-- added to a day once its row count and digest are recorded (see
-- audit_events.tamper). A late event is refused with "no partition takes new
-- rows", the error the writer already answers by keeping the event in the spool;
-- rotation then quarantines it as an amendment of the sealed day, never folding
-- it into the seal. The table's owner can drop the trigger; the seal's digest
-- still shows any row added that way.
CREATE OR REPLACE FUNCTION audit_events_refuse_sealed_day()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'audit_events: no partition takes new rows for this day: % is sealed',
        TG_RELID::regclass
        USING ERRCODE = 'check_violation',
              HINT = 'The event goes to the spool; rotation reports it as an amendment.';
END
$$;
