"""What people read: figures (KPIs), the report, run sheets, maps, the workbook.

folium is imported here only; `views.writers` writes a plan folder's files.
"""
