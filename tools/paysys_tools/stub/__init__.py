"""An instant-answer AWS stub (DynamoDB, SNS, SQS) for measuring paysys's own CPU."""
