// Consumer of the installed / add_subdirectory'd / fetched cotrait package (see CMakeLists.txt).
#include <cotrait/cotrait.hpp>

int main() {
    return 0;
}
