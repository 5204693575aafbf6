"""Job arguments and return values as JSON text, so PostgreSQL and MySQL keep their key order."""

import dj_queue.fields
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dj_queue', '0001_initial'),
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
    ]
