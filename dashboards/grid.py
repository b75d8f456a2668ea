"""The dashboards' big tables: dash-ag-grid in the command centre's dark colours, with
CSV export of what the table holds."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag

__all__ = ["DARK_THEME", "grid"]

#: AG Grid's Theming API (the default since AG Grid 33): Quartz in the dark palette.
DARK_THEME = {"function": "themeQuartz.withParams({backgroundColor: '#111827', "
              "foregroundColor: '#e5e7eb', headerBackgroundColor: '#0b1220', "
              "accentColor: '#38bdf8', fontSize: 15})"}


def grid(id: str, columns: list[dict[str, Any]], *, csv_name: str,
         rows: list[dict[str, Any]] | None = None, **options: Any) -> dag.AgGrid:
    """A table with sortable, filterable columns; ``csv_name``: the file the export names."""
    return dag.AgGrid(
        id=id, columnDefs=columns, rowData=rows or [], className="grid",
        defaultColDef={"sortable": True, "filter": True, "resizable": True,
                       "minWidth": 100},
        columnSize="responsiveSizeToFit",
        dashGridOptions={"theme": DARK_THEME, "animateRows": False,
                         "domLayout": "autoHeight", **options},
        csvExportParams={"fileName": csv_name})
