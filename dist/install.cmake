# SPDX-License-Identifier: MIT
# Installing dise like a system tool (issue 13): FHS places, and a .deb.
#   bin/dise, bin/dise-run (-> dise), bin/dise-collectord
#   lib/<multiarch>/dise/libdise_shim.so   the shim at a fixed path, for LD_PRELOAD and /etc/ld.so.preload
#   lib/systemd/user/dise-collectord.service, lib/systemd/system/dise-collectord@.service
#   share/man/man{1,5,8}/*.gz    from the scdoc sources in dist/man (when scdoc is installed)
#   share/bash-completion/completions/{dise,dise-run}
# The binaries find the shim and each other relative to themselves
# (cli/locate.c): DISE_SHIM_RELPATH is the shim's path from the bin directory.
include(GNUInstallDirs)
# install and cpack take the build as it is, never rebuild it: test-install runs cpack on the build
# tree while other tests run its binaries (build first: scripts/build.sh)
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# lib/<multiarch>/dise/: a private directory (no ldconfig, not on the linker's path), one per architecture
if(CMAKE_LIBRARY_ARCHITECTURE)
  set(DISE_SHIM_DIR lib/${CMAKE_LIBRARY_ARCHITECTURE}/dise)
else()
  set(DISE_SHIM_DIR ${CMAKE_INSTALL_LIBDIR}/dise)
endif()
file(RELATIVE_PATH DISE_SHIM_RELPATH /p/${CMAKE_INSTALL_BINDIR} /p/${DISE_SHIM_DIR}/libdise_shim.so)
target_compile_definitions(dise PRIVATE DISE_SHIM_RELPATH="${DISE_SHIM_RELPATH}")

install(TARGETS dise dise-collectord dise-coredump RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS dise_shim LIBRARY DESTINATION ${DISE_SHIM_DIR})
install(CODE "file(CREATE_LINK dise \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/dise-run\" SYMBOLIC)")

# systemd units name the binaries by absolute path: written at install time,
# when the prefix is known (cpack installs with its own prefix, /usr).
foreach(unit user/dise-collectord.service system/dise-collectord@.service)
  get_filename_component(kind ${unit} DIRECTORY)
  get_filename_component(name ${unit} NAME)
  install(CODE "
    file(READ \"${CMAKE_SOURCE_DIR}/dist/systemd/${name}.in\" text)
    string(REPLACE \"@BINDIR@\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\" text \"\${text}\")
    file(WRITE \"${CMAKE_BINARY_DIR}/dist/${kind}/${name}\" \"\${text}\")
    file(INSTALL \"${CMAKE_BINARY_DIR}/dist/${kind}/${name}\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/${kind}\" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)")
endforeach()

install(FILES dist/completion/dise.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME dise)
install(CODE "file(CREATE_LINK dise \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/bash-completion/completions/dise-run\" SYMBOLIC)")
install(FILES dist/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
find_program(GZIP gzip)
if(GZIP)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/dist/changelog.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/dist
    COMMAND sh -c "exec \"$1\" -9nc < \"$2\" > \"$3\"" sh ${GZIP} ${CMAKE_SOURCE_DIR}/dist/changelog ${CMAKE_BINARY_DIR}/dist/changelog.gz
    DEPENDS ${CMAKE_SOURCE_DIR}/dist/changelog VERBATIM)
  add_custom_target(dise_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/dist/changelog.gz)
  install(FILES ${CMAKE_BINARY_DIR}/dist/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()

# Man pages: scdoc sources, built into gzip -9n pages (as Debian ships them).
find_program(SCDOC scdoc)
set(DISE_MAN_PAGES dise.1 dise-run.1 dise-collectord.8 dise-coredump.8 dise.json.5)
if(SCDOC AND GZIP)
  set(pages "")
  foreach(page ${DISE_MAN_PAGES})
    string(REGEX MATCH "[0-9]$" section ${page})
    add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND sh -c "exec \"$1\" < \"$2\" > \"$3\"" sh ${SCDOC} ${CMAKE_SOURCE_DIR}/dist/man/${page}.scd ${CMAKE_BINARY_DIR}/man/${page}
      COMMAND ${GZIP} -9nf ${CMAKE_BINARY_DIR}/man/${page}
      DEPENDS ${CMAKE_SOURCE_DIR}/dist/man/${page}.scd
      COMMENT "scdoc ${page}" VERBATIM)
    list(APPEND pages ${CMAKE_BINARY_DIR}/man/${page}.gz)
    install(FILES ${CMAKE_BINARY_DIR}/man/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(dise_man ALL DEPENDS ${pages})
else()
  message(STATUS "scdoc not found: the man pages are not built nor installed (scripts/deps.sh installs scdoc)")
endif()

# cpack -G DEB: Depends computed by dpkg-shlibdeps from what the binaries link.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dise)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(DISE_DEB_MAINTAINER "dise maintainers <dise@example.org>" CACHE STRING "the .deb's Maintainer")
set(CPACK_PACKAGE_CONTACT "${DISE_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "self-healing runtime for Linux programs")
set(CPACK_PACKAGE_DESCRIPTION "dise watches existing executables through a preloaded shim,\nremembers how they broke, retires a version after three strikes and routes\nthe next run to the last version that worked.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "graphviz")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/dist/debian/prerm) # the shim leaves /etc/ld.so.preload on removal
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
