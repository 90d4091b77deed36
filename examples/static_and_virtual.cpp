// One implementation, both dispatch paths (what dynosaur gives Rust users):
//   - static: generic code constrained with cotrait::implements<Shape> calls the static_task
//     methods directly, no virtual call, no type erasure;
//   - virtual: cotrait::adapter / make_adapter wrap the same type into the Shape interface, each
//     call adopting the implementation's frame (one frame per call either way).
// Then the interface's reflection prints the frames and bytes per call of each method.
#include <cotrait/cotrait.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

// clang-format off
ASYNC_INTERFACE(Shape,
    (area, (double), () const),
    (name, (std::string), () const),
    (describe, (std::string), () const, {
        // A provided method: its default body awaits the required ones.
        const double a = co_await area();
        co_return co_await name() + " of area " + std::to_string(a);
    }));
// clang-format on

struct Square {
    double side = 1;
    cotrait::static_task<double> area() const { co_return side* side; }
    cotrait::static_task<std::string> name() const { co_return "square"; }
};

struct Circle {
    double radius = 1;
    cotrait::static_task<double> area() const { co_return 3.14159 * radius* radius; }
    cotrait::static_task<std::string> name() const { co_return "circle"; }
    // Overrides the provided method.
    cotrait::static_task<std::string> describe() const {
        co_return "a circle of radius " + std::to_string(radius);
    }
};

// The static path: resolved at compile time for each T.
template <cotrait::implements<Shape> T>
cotrait::static_task<double> total_area_static(const std::vector<T>& shapes) {
    double sum = 0;
    for (const T& s : shapes) {
        sum += co_await s.area();
    }
    co_return sum;
}

// The virtual path: one function for any mix of shapes.
cotrait::boxed_task<double> total_area_virtual(const std::vector<std::unique_ptr<Shape>>& shapes) {
    double sum = 0;
    for (const auto& s : shapes) {
        sum += co_await s->area();
        std::printf("  %s\n", (co_await s->describe()).c_str());
    }
    co_return sum;
}

int main() {
    const std::vector<Square> squares{{1}, {2}};
    const double static_sum = cotrait::sync_wait(total_area_static(squares));

    std::vector<std::unique_ptr<Shape>> shapes;
    shapes.push_back(cotrait::make_adapter<Shape>(Square{1}));
    shapes.push_back(cotrait::make_adapter<Shape>(Square{2}));
    shapes.push_back(cotrait::make_adapter<Shape>(Circle{1}));
    const double virtual_sum = cotrait::sync_wait(total_area_virtual(shapes));
    std::printf("static path: %.2f, virtual path: %.2f\n", static_sum, virtual_sum);

    std::printf("\nasync methods of Shape:\n");
    for (const cotrait::method_info& m : cotrait::async_methods<Shape>()) {
        std::printf("  %.*s  arity %zu%s%s\n", static_cast<int>(m.name.size()), m.name.data(),
                    m.arity, m.is_const ? "  const" : "", m.provided ? "  (provided)" : "");
    }

    std::printf("\nper call, through the interface:\n");
    for (const auto& s : shapes) {
        std::printf("%s:\n", cotrait::sync_wait(s->name()).c_str());
        const cotrait::method_profile rows[] = {
            cotrait::profile_method<Shape>(*s, &Shape::area),
            cotrait::profile_method<Shape>(*s, &Shape::name),
            cotrait::profile_method<Shape>(*s, &Shape::describe),
        };
        cotrait::print_profile(std::cout, rows);
    }
    const bool ok = static_sum == 5.0 && virtual_sum > 8.14 && virtual_sum < 8.15;
    return ok ? 0 : 1;
}
