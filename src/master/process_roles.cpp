#include "master/process_roles.hpp"

#include <sys/wait.h>

#include <cstring>

namespace askr::master {

std::string describe_exit(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int s = WTERMSIG(status);
        return std::string("killed by signal ") + std::to_string(s) + " (SIG" + sigabbrev_np(s) +
               ")";
    }
    return "status " + std::to_string(status);
}

}  // namespace askr::master
