"""fada_desk: offline ultrasound workstation running the FADA pipeline locally."""

__version__ = "0.1.0"
