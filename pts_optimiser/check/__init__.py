"""The independent plan checker: it shares no code with the engine.

Nothing on the planning path imports it; services pass it to the plan writer.
"""
