"""Bring an operational store made by an older version up to the current tables.

New columns are only ever added as nullable (an older row has no value for them), so adding
the missing ones is the whole upgrade: `metadata.create_all` makes missing tables but leaves
existing ones alone, and a store opened by the new code would otherwise fail on its first
insert naming the new column.
"""

from __future__ import annotations

import sqlalchemy as sa


def add_missing_columns(engine: sa.Engine, metadata: sa.MetaData) -> list[str]:
    """ALTER TABLE … ADD COLUMN for every nullable column of `metadata` a table lacks; returns
    "table.column" for each added. A missing NOT NULL column is a change no upgrade can make
    without a value, and is left to fail loudly on use."""
    inspector = sa.inspect(engine)
    added = []
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have or not column.nullable:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                name = engine.dialect.identifier_preparer
                conn.execute(sa.text(f"ALTER TABLE {name.quote(table.name)} "
                                     f"ADD COLUMN {name.quote(column.name)} {kind}"))
                added.append(f"{table.name}.{column.name}")
    return added
