"""Rate limits: a sliding log of recent starts per key, and throttled scheduled jobs."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("dj_queue", "0007_workflows"),
    ]

    operations = [
        migrations.AddField(
            model_name='scheduledexecution',
            name='throttled',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.CreateModel(
            name='RateLimitLog',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('backend_alias', models.CharField(default='default', max_length=100)),
                ('key', models.CharField(max_length=255)),
                ('starts', models.JSONField(default=list)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'db_table': 'dj_queue_rate_limit',
                'constraints': [models.UniqueConstraint(fields=('backend_alias', 'key'), name='dj_queue_rate_limit_unique')],
            },
        ),
    ]
