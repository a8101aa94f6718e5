#include "io/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "util/error.h"

namespace calm {

namespace fs = std::filesystem;

namespace {

std::string prefix(const std::string& path, const std::string& label) {
  return label.empty() ? path + ": " : label + " " + path + ": ";
}

std::string errno_text(int error) { return std::strerror(error); }

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device node";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// What lies at `path` now, not following a final symbolic link; throws for
// anything but a regular file or nothing. Returns whether a file exists.
bool inspect_output(const std::string& path, const std::string& label, struct stat& st) {
  if (path.empty()) throw Error((label.empty() ? std::string("output") : label) + ": the path is empty");
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) throw Error(prefix(path, label) + "cannot inspect the output: " + errno_text(errno));
    const fs::path parent = fs::absolute(fs::path(path)).parent_path();
    std::error_code ec;
    if (!fs::is_directory(parent, ec))
      throw Error(prefix(path, label) + "cannot write: the directory " + parent.string() + " does not exist");
    return false;
  }
  if (S_ISLNK(st.st_mode))
    throw Error(prefix(path, label) +
                "is a symbolic link; refusing to replace it (give the path of the file it points to)");
  if (!S_ISREG(st.st_mode))
    throw Error(prefix(path, label) + "is " + kind_of(st.st_mode) +
                "; outputs must be regular files or new, so it is left alone");
  return true;
}

// 0, or the errno of the write that failed.
int write_all(int fd, const std::string& contents) {
  const char* data = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

// A directory's entry is durable only once the directory itself is synced.
// Some file systems refuse fsync on a directory (EINVAL); the data is synced
// either way, so that is not an error.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

bool same_existing_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

fs::path normalised(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(fs::path(path), ec), ec);
  return ec ? fs::absolute(fs::path(path)).lexically_normal() : p;
}

bool same_file(const std::string& a, const std::string& b) {
  if (same_existing_file(a, b)) return true;
  return normalised(a) == normalised(b);
}

std::string describe(const LabelledPath& p) { return p.label.empty() ? p.path : p.label + " " + p.path; }

}  // namespace

void check_output_path(const std::string& path, const std::string& label) {
  struct stat st;
  inspect_output(path, label, st);
}

void write_output_file(const std::string& path, const std::string& contents, const std::string& label) {
  struct stat st;
  const bool existed = inspect_output(path, label, st);
  const fs::path target = fs::absolute(fs::path(path));
  const fs::path dir = target.parent_path();

  // O_EXCL with a random name: never opens an existing file, nor follows a
  // link someone placed at the temporary name.
  std::random_device random;
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    temp = (dir / ("." + target.filename().string() + ".tmp-" + std::to_string(random()))).string();
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0 && errno != EEXIST)
      throw Error(prefix(path, label) + "cannot write (could not create a temporary file in " + dir.string() +
                  "): " + errno_text(errno));
  }
  if (fd < 0) throw Error(prefix(path, label) + "cannot write: no free temporary name in " + dir.string());

  auto fail = [&](const std::string& what, int error) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw Error(prefix(path, label) + what + ": " + errno_text(error) +
                (existed ? "; the previous file is unchanged" : ""));
  };
  if (const int error = write_all(fd, contents)) fail("writing failed", error);
  if (existed && ::fchmod(fd, st.st_mode & 07777) != 0) fail("cannot keep the file's permissions", errno);
  if (::fsync(fd) != 0) fail("writing failed (fsync)", errno);
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("writing failed (close)", errno);

  // Checked again just before the rename, which would replace whatever is
  // there now: a link or a node that appeared meanwhile is still refused.
  try {
    inspect_output(path, label, st);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) fail("cannot replace the file", errno);
  sync_directory(dir);
}

void check_distinct_files(const std::vector<LabelledPath>& outputs, const std::vector<LabelledPath>& inputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    check_output_path(outputs[i].path, outputs[i].label);
    for (size_t j = 0; j < i; ++j)
      if (same_file(outputs[i].path, outputs[j].path))
        throw Error(describe(outputs[i]) + " is the same file as " + describe(outputs[j]) +
                    ": each output needs its own file");
    for (const LabelledPath& in : inputs)
      if (same_file(outputs[i].path, in.path))
        throw Error(describe(outputs[i]) + " is the same file as the input " + describe(in) +
                    ": writing it would destroy the input");
  }
}

std::vector<LabelledPath> model_input_files(const std::string& dir) {
  std::vector<LabelledPath> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec))
      files.push_back({"the model's " + it->path().filename().string(), it->path().string()});
  }
  return files;
}

}  // namespace calm
