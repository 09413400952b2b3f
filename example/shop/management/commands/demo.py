"""The demo's main job: record events over many days, rotate, archive, and show where they are."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test import Client

from audit_events import AuditContext, create_day_partitions
from audit_events.lifecycle import rotate
from audit_events.models import SealedDay, get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import day_bounds, list_partitions, utc_today
from audit_events.spool import spooled_counts
from shop.models import Product

DEMO_USER, DEMO_PASSWORD = "demo", "demo"


class Command(BaseCommand):
    help = "Record audit events across many days, rotate and archive them, and show where they are."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=120, help="days of history (default 120)")
        parser.add_argument("--events-per-day", type=int, default=20)

    def handle(self, *args, days: int, events_per_day: int, **options):
        if days < 1 or events_per_day < 1:
            raise ValueError("--days and --events-per-day must be at least 1")
        call_command("migrate", verbosity=0)
        user, products = self.ensure_fixtures()
        self.record_history(user, products, days, events_per_day)
        self.record_through_requests(user, products[0])
        self.record_without_partition(products[1])
        self.stdout.write(self.style.MIGRATE_HEADING("Rotation (what cron would run daily):"))
        for step in rotate():
            self.stdout.write(f"  {step}")
        self.show_where_events_are()
        self.show_captured_request()
        self.stdout.write(
            self.style.SUCCESS(
                f"\nBrowse the events: make demo-server, then open http://127.0.0.1:8000/admin/ "
                f"and log in as {DEMO_USER} / {DEMO_PASSWORD}."
            )
        )

    def ensure_fixtures(self):
        users = get_user_model()
        user = users.objects.filter(username=DEMO_USER).first()
        if user is None:
            user = users.objects.create_superuser(DEMO_USER, "demo@example.invalid", DEMO_PASSWORD)
        products = [
            Product.objects.get_or_create(name=name, defaults={"price": price, "stock": 1000})[0]
            for name, price in [("Teapot", Decimal("19.90")), ("Kettle", Decimal("34.50"))]
        ]
        return user, products

    def record_history(self, user, products, days, events_per_day):
        """Events with explicit past timestamps, as an import or backfill would write them."""
        today = utc_today()
        first = today - datetime.timedelta(days=days)
        create_day_partitions(get_audit_event_model(), first, today)
        context = AuditContext()
        context.extra_data["source"] = "demo history"
        randomizer = random.Random(days)
        sealed = sealed_days()
        recorded = 0
        for offset in range(days + 1):
            if first + datetime.timedelta(days=offset) in sealed:
                continue  # recorded by an earlier run; new events would be amendments
            recorded += 1
            start, _ = day_bounds(first + datetime.timedelta(days=offset))
            for _ in range(events_per_day):
                event = context.new_event()
                product = randomizer.choice(products)
                event.content_object = product
                event.url = f"https://shop.example/products/{product.pk}/"
                event.remote_addr = f"192.0.2.{randomizer.randrange(1, 255)}"
                event.timestamp = start + datetime.timedelta(seconds=randomizer.randrange(86_400))
                event.user = user
                event.username = user.get_username()
                event.content.update(action=randomizer.choice(["viewed", "bought", "returned"]))
                event.save()
        total = recorded * events_per_day
        self.stdout.write(f"Recorded {total} events over {recorded} days ({first} to {today}).")
        if recorded <= days:
            self.stdout.write(
                f"Skipped {days + 1 - recorded} days sealed by an earlier run (their events "
                "are kept; new ones for a sealed day would be quarantined as amendments)."
            )

    def record_through_requests(self, user, product):
        """Requests through AuditEventsMiddleware: URL, user, client IP and headers captured."""
        client = Client(REMOTE_ADDR="2001:db8::7")
        client.force_login(user)
        for _ in range(3):
            response = client.get(
                f"/products/{product.pk}/buy/?ref=newsletter&token=s3cret",
                HTTP_USER_AGENT="demo-browser/1.0",
                HTTP_AUTHORIZATION="Bearer not-for-the-audit-table",
            )
            if response.status_code != 200:
                raise RuntimeError(f"demo view answered {response.status_code}")
        self.stdout.write("Recorded 3 events through HTTP requests (middleware capture).")

    def record_without_partition(self, product):
        """An event for a day with no partition: kept in the spool, never lost."""
        when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=730)
        if when.date() in sealed_days():
            self.stdout.write(f"Skipped the event dated {when:%Y-%m-%d}: sealed by an earlier run.")
            return
        event = AuditContext().new_event()
        event.content_object = product
        event.timestamp = when
        event.content.update(action="imported", note="two years old, no partition yet")
        event.save()
        self.stdout.write(f"Recorded 1 event dated {when:%Y-%m-%d} (no partition: spooled).")

    def show_where_events_are(self):
        self.stdout.write(self.style.MIGRATE_HEADING("\nWhere the events are:"))
        for model in (get_audit_event_model(), get_audit_event_archive_model()):
            parts = list_partitions(model)
            count = model._base_manager.count()
            span = f"{parts[0].day} .. {parts[-1].day}" if parts else "-"
            self.stdout.write(
                f"  {model._meta.db_table:<34} {len(parts):>4} day partitions "
                f"{count:>7} events   days {span}"
            )
        spooled = sum(count for _, count in spooled_counts(get_audit_event_model(), "default"))
        self.stdout.write(f"  {'spool (no partition yet)':<34} {spooled:>24} events")

    def show_captured_request(self):
        event = get_audit_event_model().objects.filter(url__contains="/buy/").latest()
        self.stdout.write(self.style.MIGRATE_HEADING("\nAn event recorded by a request:"))
        for field in (
            "timestamp",
            "username",
            "remote_addr",
            "url",
            "query_params",
            "headers",
            "content",
        ):
            self.stdout.write(f"  {field:<13} {getattr(event, field)}")


def sealed_days() -> set[datetime.date]:
    """The days rotation has sealed (a demo run again does not write into them)."""
    from audit_events.partitions import table_of

    return set(
        SealedDay.objects.filter(event_table=table_of(get_audit_event_model())).values_list(
            "day", flat=True
        )
    )
