"""A view that records an audit event, as in the seed docs' quick start."""

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404

from shop.models import Product


def buy(request: HttpRequest, pk: int) -> JsonResponse:
    product = get_object_or_404(Product, pk=pk)
    product.stock -= 1
    product.save(update_fields=["stock"])
    event = request.audit_context.create_fields_event(product, "stock", "price", action="bought")
    return JsonResponse({"event": str(event.pk), "stock": product.stock})
