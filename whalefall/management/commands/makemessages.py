"""`makemessages` that also extracts strings marked `N_(...)`.

Labels kept in tables (account attributes, flags) are marked with `gettext_noop` imported as
`N_` and translated when they are shown; xgettext only knows Django's own names for it.
"""

from django.core.management.commands.makemessages import Command as MakeMessagesCommand


class Command(MakeMessagesCommand):
    xgettext_options = [*MakeMessagesCommand.xgettext_options, "--keyword=N_"]
