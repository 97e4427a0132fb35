from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Visit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("served_at", models.DateTimeField(auto_now_add=True)),
                ("release", models.CharField(max_length=64)),
                ("host", models.CharField(max_length=255)),
            ],
            options={"ordering": ["-served_at", "-id"]},
        ),
    ]
