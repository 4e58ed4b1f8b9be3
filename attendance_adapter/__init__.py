"""attendance_adapter: Live rider attendance, fronting the external attendance management system."""
