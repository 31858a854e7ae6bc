"""Qt GUI layer: the only package that imports PySide6 / pyqtgraph."""
