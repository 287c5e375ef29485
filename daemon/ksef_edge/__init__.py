"""ksef-edge: offline-first KSeF FA(3) invoicing next to the till."""
__version__ = "0.1.0"
