# Every dependency comes from Debian 12's packages (deploy/install-deps.sh installs them).
find_package(Threads REQUIRED)
# Boost 1.81 (not 1.74): awaitable_operators give us `co_await (op || timer)` deadlines and
# as_tuple gives error codes as values; see docs/architecture-notes.md.
find_package(Boost 1.81 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(spdlog REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

# One interface target carrying what every Asio/Beast translation unit needs.
add_library(cic_asio INTERFACE)
target_link_libraries(cic_asio INTERFACE Boost::headers Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
target_compile_definitions(cic_asio INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_BEAST_USE_STD_STRING_VIEW
  BOOST_ASIO_DISABLE_BOOST_COROUTINE)
