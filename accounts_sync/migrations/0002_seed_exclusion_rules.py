from django.db import migrations

# System accounts per engine, as SQL LIKE patterns on the identity (`\` escapes `_` and `%`).
RULES = [
    ("mysql", "mysql.sys@localhost", "MySQL sys schema definer"),
    ("mysql", "mysql.session@localhost", "MySQL internal session user"),
    ("mysql", "mysql.infoschema@localhost", "MySQL information_schema definer"),
    ("mysql", "mariadb.sys@localhost", "MariaDB sys definer"),
    ("postgresql", "pg\\_%", "PostgreSQL predefined roles"),
    ("sqlserver", "##%##", "Certificate-based internal logins"),
    ("sqlserver", "NT SERVICE\\\\%", "Windows service accounts"),
    ("sqlserver", "NT AUTHORITY\\\\%", "Windows built-in accounts"),
    ("sqlserver", "BUILTIN\\\\%", "Windows built-in groups"),
    ("oracle", "SYS", "Oracle-maintained"),
    ("oracle", "SYSTEM", "Oracle-maintained"),
    ("oracle", "SYS$UMF", "Oracle-maintained"),
    ("oracle", "SYSBACKUP", "Oracle-maintained"),
    ("oracle", "SYSDG", "Oracle-maintained"),
    ("oracle", "SYSKM", "Oracle-maintained"),
    ("oracle", "SYSRAC", "Oracle-maintained"),
    ("oracle", "XS$NULL", "Oracle-maintained"),
    ("oracle", "DBSNMP", "Oracle-maintained"),
    ("oracle", "OUTLN", "Oracle-maintained"),
    ("oracle", "AUDSYS", "Oracle-maintained"),
    ("oracle", "APPQOSSYS", "Oracle-maintained"),
    ("oracle", "GSMADMIN\\_INTERNAL", "Oracle-maintained"),
    ("oracle", "GSM%USER", "Oracle-maintained"),
    ("oracle", "DIP", "Oracle-maintained"),
    ("oracle", "REMOTE\\_SCHEDULER\\_AGENT", "Oracle-maintained"),
    ("oracle", "ANONYMOUS", "Oracle-maintained"),
    ("oracle", "XDB", "Oracle-maintained"),
    ("oracle", "WMSYS", "Oracle-maintained"),
    ("oracle", "OJVMSYS", "Oracle-maintained"),
    ("oracle", "CTXSYS", "Oracle-maintained"),
    ("oracle", "MDSYS", "Oracle-maintained"),
    ("oracle", "ORDSYS", "Oracle-maintained"),
    ("oracle", "DVSYS", "Oracle-maintained"),
    ("oracle", "LBACSYS", "Oracle-maintained"),
    ("oracle", "OLAPSYS", "Oracle-maintained"),
    ("oracle", "APEX\\_%", "Oracle APEX schemas"),
]


def seed(apps, schema_editor):
    ExclusionRule = apps.get_model("accounts_sync", "ExclusionRule")
    for db_type, pattern, description in RULES:
        ExclusionRule.objects.get_or_create(db_type=db_type, pattern=pattern, defaults={"description": description})


def unseed(apps, schema_editor):
    ExclusionRule = apps.get_model("accounts_sync", "ExclusionRule")
    for db_type, pattern, _ in RULES:
        ExclusionRule.objects.filter(db_type=db_type, pattern=pattern).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts_sync", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
