"""Models the tests audit: integer, bigint, UUID and string primary keys."""

import uuid

from django.db import models


class Article(models.Model):
    title = models.CharField(max_length=200)
    published = models.DateField(null=True, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    reference = models.UUIDField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title


class BigThing(models.Model):
    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=50)


class UuidThing(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=50)


class SlugThing(models.Model):
    slug = models.CharField(primary_key=True, max_length=100)
