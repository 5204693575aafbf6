"""Unique jobs: one reservation row per unique key, held by the job that owns it."""

from __future__ import annotations

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dj_queue", "0005_job_headers"),
    ]

    operations = [
        migrations.CreateModel(
            name="UniqueReservation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("backend_alias", models.CharField(default="default", max_length=100)),
                ("key", models.CharField(max_length=255)),
                ("job_id", models.BigIntegerField(null=True)),
                ("expires_at", models.DateTimeField(null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "db_table": "dj_queue_unique_reservation",
                "constraints": [
                    models.UniqueConstraint(fields=("backend_alias", "key"), name="dj_queue_unique_key"),
                ],
            },
        ),
    ]
