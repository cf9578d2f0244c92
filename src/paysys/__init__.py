"""paysys: an event-driven payment system (aiohttp API, DynamoDB, SNS -> SQS, async worker)."""

__version__ = "0.1.0"
