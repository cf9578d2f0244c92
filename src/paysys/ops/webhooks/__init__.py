"""``paysys webhooks``: tools for merchants and developers (verify a delivery, listen)."""
