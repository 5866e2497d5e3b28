"""bedside: a Raspberry Pi bedside sleep-sound appliance."""

__version__ = "0.1.0"
