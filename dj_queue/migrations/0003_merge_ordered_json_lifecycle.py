"""Joins the two migrations made side by side on 0001: ordered JSON columns and the job lifecycle."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dj_queue', '0002_lifecycle'),
        ('dj_queue', '0002_ordered_json'),
    ]

    operations = []
