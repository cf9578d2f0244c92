"""AWS list prices paysys's cost figures use, in one place, with the date they were read.

us-east-1, on-demand, as listed in late 2026 (DynamoDB's on-demand prices were cut from
$1.25/$0.25 per million in November 2024). Update the date with the figures.
"""

from __future__ import annotations

PRICES_AS_OF = "2026-12-01"
REGION = "us-east-1"
USD_PER_MILLION_WRU = 0.625  # DynamoDB on-demand write request units
USD_PER_MILLION_RRU = 0.125  # DynamoDB on-demand read request units
USD_PER_MILLION_SNS_REQUESTS = 0.50  # Publish / PublishBatch (up to 10 messages, 64 KB)
USD_PER_MILLION_SQS_REQUESTS = 0.40  # standard queue; a batch of up to 10 is one request
SECONDS_PER_MONTH = 30 * 24 * 3600
