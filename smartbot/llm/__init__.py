"""Model providers and the model service. Plain data in, plain data out: no Flask, no channels,
no router, no database; every failure leaves here as a ProviderError."""
