"""DynamoDB served by moto inside LocalStack (see providers.py)."""
