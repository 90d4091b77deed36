// cotrait: virtual async interfaces over coroutine tasks with pluggable frame allocation.
// Umbrella header: includes every public header of the library.
#pragma once

#include <cotrait/arena.hpp>
#include <cotrait/async_event.hpp>
#include <cotrait/async_mutex.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/async_semaphore.hpp>
#include <cotrait/awaitable_traits.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/channel.hpp>
#include <cotrait/config.hpp>
#include <cotrait/counting.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/inline_resource.hpp>
#include <cotrait/instrumented.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/local_task.hpp>
#include <cotrait/new_delete.hpp>
#include <cotrait/profile.hpp>
#include <cotrait/ready.hpp>
#include <cotrait/recycling.hpp>
#include <cotrait/resume_on.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/task_error.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>
#include <cotrait/when_all.hpp>
#include <cotrait/when_any.hpp>
