"""Operator commands: provisioning, migration, IAM policies, capacity, the DLQ and event tail."""
