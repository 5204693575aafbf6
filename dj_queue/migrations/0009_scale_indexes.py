"""The dashboard's rescued count reads an index range instead of every job kept."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("dj_queue", "0008_rate_limits")]

    operations = [
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["backend_alias", "crashes"], name="dj_queue_job_crashes"),
        ),
    ]
