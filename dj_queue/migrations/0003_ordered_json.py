"""Job arguments and return values as JSON text, so PostgreSQL and MySQL keep their key order."""

import dj_queue.fields
from django.db import migrations

COLUMNS = ('args', 'kwargs', 'return_value')


def cast_back_to_jsonb(apps, schema_editor):
    """Going back on PostgreSQL: text has no automatic cast to jsonb, so cast it here first."""
    if schema_editor.connection.vendor != 'postgresql':
        return
    quote = schema_editor.quote_name
    table = quote(apps.get_model('dj_queue', 'Job')._meta.db_table)
    changes = ', '.join(f'ALTER COLUMN {quote(c)} TYPE jsonb USING {quote(c)}::jsonb' for c in COLUMNS)
    schema_editor.execute(f'ALTER TABLE {table} {changes}')


class Migration(migrations.Migration):

    dependencies = [
        ('dj_queue', '0002_lifecycle'),
    ]

    operations = [
        migrations.AlterField(
            model_name='job',
            name='args',
            field=dj_queue.fields.OrderedJSONField(default=list),
        ),
        migrations.AlterField(
            model_name='job',
            name='kwargs',
            field=dj_queue.fields.OrderedJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name='job',
            name='return_value',
            field=dj_queue.fields.OrderedJSONField(blank=True, null=True),
        ),
        # Last, so that when unapplying it runs before the AlterFields above.
        migrations.RunPython(migrations.RunPython.noop, cast_back_to_jsonb),
    ]
