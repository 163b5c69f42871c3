# blockkit: what every directory with shell tests shares (included by
# tests/Makefile.am and by each filters/NAME/Makefile.am).  Tests source
# $(top_srcdir)/tests/functions.sh as "$abs_top_srcdir/tests/functions.sh".
TESTS_ENVIRONMENT = \
	PATH="$(abs_top_builddir):$$PATH"; export PATH; \
	srcdir="$(abs_srcdir)"; export srcdir; \
	builddir="$(abs_builddir)"; export builddir; \
	abs_top_builddir="$(abs_top_builddir)"; export abs_top_builddir; \
	abs_top_srcdir="$(abs_top_srcdir)"; export abs_top_srcdir; \
	BLOCKKIT="$${BLOCKKIT:-blockkit}"; export BLOCKKIT; \
	LC_ALL=C; export LC_ALL;
