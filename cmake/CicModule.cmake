# cic_module(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# One module = one static library `cic_<name>` (alias `cic::<name>`), public headers under
# include/cic/<name>/, private sources under src/<name>/.
function(cic_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(cic_${name} STATIC ${M_SOURCES})
  target_include_directories(cic_${name}
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(cic_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  add_library(cic::${name} ALIAS cic_${name})
endfunction()
