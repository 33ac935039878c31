"""qi-excel: expert-panel evaluation of a quality-infrastructure one-stop service in Excel."""

__version__ = "0.1.0"
