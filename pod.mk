# blockkit: man pages that name the directories this build was configured
# with (included by the Makefile.am of each such page).
#
# Their .pod sources write @sysconfdir@, @sbindir@, @plugindir@,
# @filterdir@, @systemdunitdir@, @udevrulesdir@ and @docdir@, like
# systemd/nbdattach@.service.in, so that a default build (prefix
# /usr/local) documents /usr/local/etc/blockkit/devices, the directory
# it really reads, and a distribution's build (--sysconfdir=/etc)
# documents /etc/blockkit/devices.  make expands the variables fully.
POD_SUBST = sed \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@plugindir[@]|$(plugindir)|g' \
	-e 's|@filterdir[@]|$(filterdir)|g' \
	-e 's|@systemdunitdir[@]|$(systemdunitdir)|g' \
	-e 's|@udevrulesdir[@]|$(udevrulesdir)|g' \
	-e 's|@docdir[@]|$(docdir)|g'

# The recipe of a page NAME.SECTION made from its NAME.pod (the first
# prerequisite): the section and the name come from the target.
POD_MAN = $(POD_SUBST) $< > $@-pod && \
	$(POD2MAN) --section=`echo $@ | sed 's/.*\.//'` --center=blockkit \
	  --release=$(VERSION) --name=`echo $@ | sed 's/\.[^.]*$$//'` \
	  $@-pod > $@-t && rm -f $@-pod && mv $@-t $@
