"""reflectrl: Reflect, Retry, Reward. Teach language models to learn from their own mistakes."""

__version__ = "0.1.0"
