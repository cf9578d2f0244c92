"""Adapters: the ports implemented over aiodynamo (DynamoDB) and aiobotocore (SNS, SQS)."""
