"""Files and services at the edges: CSV tables, reading a day, the plan folder, OSRM.

pandas is imported here only. Generated days and the published DARP instances are read here.
"""
