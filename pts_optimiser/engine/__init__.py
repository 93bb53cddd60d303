"""Planning a day: encoding, the OR-Tools model, ruin and recreate, the fallback, reasons.

OR-Tools is imported here only. `engine.solve.solve` is the entry point.
"""
