"""``paysys capacity``: a payment's cost and the hot keys, from the code's own key functions
and item builders (``keys``, ``units``, ``counters``) at the list prices of ``prices``."""
