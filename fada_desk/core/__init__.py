"""Pure core: data types, calibration, threading helpers. Never imports Qt."""
