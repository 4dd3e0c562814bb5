"""`makemessages` that also extracts strings marked `N_(...)`.

Labels kept in tables (account attributes, flags) are marked with `gettext_noop` imported as
`N_` and translated when they are shown; xgettext only knows Django's own names for it. Its
output (file names) goes through the escaping wrapper like every command of ours.
"""

from django.core.management.commands.makemessages import Command as MakeMessagesCommand

from whalefall.management.base import SafeOutputCommand


class Command(SafeOutputCommand, MakeMessagesCommand):
    help = MakeMessagesCommand.help
    xgettext_options = [*MakeMessagesCommand.xgettext_options, "--keyword=N_"]
