"""The tests' fault-injecting HTTP proxy is dev tooling: :mod:`paysys_tools.chaos.faults`."""

from paysys_tools.chaos.faults import Fault, HttpFaults, dynamodb_operation, operation

__all__ = ["Fault", "HttpFaults", "dynamodb_operation", "operation"]
