// SPDX-License-Identifier: GPL-2.0
/*
 * fl_planted: defects planted on purpose, for faultline's proof tests only (never shipped, never
 * loaded unless a test's plan asks for it with `setup: { modules: [...] }`). Each control file
 * in /sys/kernel/debug/faultline_planted/ runs one kernel path in the task that writes it, done
 * wrong ("defect") or right ("clean"), so a test can show that the kernel's own checks see the
 * defect and that the clean path passes them:
 *
 *   hold-mutex  "defect" returns to user space holding planted_lock (lockdep); "clean" unlocks
 *   lock-page   "defect PATH INDEX" reads page INDEX of the file PATH into the page cache, locks
 *               it and returns with it locked; "clean PATH INDEX" unlocks it first
 *   hang        waits (uninterruptibly) for a work item to finish a request; in "defect" the
 *               work item's error path forgets to complete it, so the writer sleeps forever
 *               in D state (the hung-task detector); in "clean" it completes it
 *   leak        allocates a request, which then fails to parse: the write returns EINVAL; in
 *               "defect" the error path forgets to free it (kmemleak); in "clean" it frees it
 *
 * A write that names no known mode fails with EINVAL and does nothing.
 */
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

static struct dentry *planted_dir;
static DEFINE_MUTEX(planted_lock);

/* The written text, NUL-terminated, with a trailing newline dropped; 0 or -errno. */
static int planted_copy(char *buf, size_t size, const char __user *from, size_t count)
{
	if (count == 0 || count >= size)
		return -EINVAL;
	if (copy_from_user(buf, from, count))
		return -EFAULT;
	buf[count] = 0;
	if (buf[count - 1] == '\n')
		buf[count - 1] = 0;
	return 0;
}

/* 1 for "defect", 0 for "clean", -EINVAL for anything else; *rest is what follows the word. */
static int planted_mode(char *buf, char **rest)
{
	char *space = strchr(buf, ' ');

	*rest = space ? space + 1 : buf + strlen(buf);
	if (space)
		*space = 0;
	if (strcmp(buf, "defect") == 0)
		return 1;
	if (strcmp(buf, "clean") == 0)
		return 0;
	return -EINVAL;
}

static ssize_t hold_mutex_write(struct file *f, const char __user *from, size_t count, loff_t *pos)
{
	char buf[32], *rest;
	int defect, err = planted_copy(buf, sizeof(buf), from, count);

	if (err)
		return err;
	defect = planted_mode(buf, &rest);
	if (defect < 0 || *rest)
		return -EINVAL;
	mutex_lock(&planted_lock);
	/* The defect: an early return that forgets the unlock. */
	if (defect)
		return count;
	mutex_unlock(&planted_lock);
	return count;
}

static ssize_t lock_page_write(struct file *f, const char __user *from, size_t count, loff_t *pos)
{
	char buf[320], *rest, *index_text;
	struct file *target;
	struct folio *folio;
	unsigned long index;
	int defect, err = planted_copy(buf, sizeof(buf), from, count);

	if (err)
		return err;
	defect = planted_mode(buf, &rest);
	index_text = strrchr(rest, ' ');
	if (defect < 0 || !index_text || rest[0] != '/')
		return -EINVAL;
	*index_text++ = 0;
	if (kstrtoul(index_text, 10, &index))
		return -EINVAL;
	target = filp_open(rest, O_RDONLY, 0);
	if (IS_ERR(target))
		return PTR_ERR(target);
	/* Read in (uptodate) first: a reader of the page then needs no lock, only a writer does. */
	folio = read_mapping_folio(target->f_mapping, index, target);
	if (IS_ERR(folio)) {
		fput(target);
		return PTR_ERR(folio);
	}
	folio_lock(folio);
	/* The defect: the page stays locked when the path returns. */
	if (!defect)
		folio_unlock(folio);
	folio_put(folio);
	fput(target);
	return count;
}

struct planted_request {
	struct work_struct work;
	struct completion done;
	bool defect;
};

static void planted_hang_work(struct work_struct *work)
{
	struct planted_request *r = container_of(work, struct planted_request, work);

	/* The defect: the error path returns without completing the request its caller waits on. */
	if (r->defect)
		return;
	complete(&r->done);
}

static ssize_t hang_write(struct file *f, const char __user *from, size_t count, loff_t *pos)
{
	char buf[32], *rest;
	struct planted_request r;
	int defect, err = planted_copy(buf, sizeof(buf), from, count);

	if (err)
		return err;
	defect = planted_mode(buf, &rest);
	if (defect < 0 || *rest)
		return -EINVAL;
	r.defect = defect;
	init_completion(&r.done);
	INIT_WORK_ONSTACK(&r.work, planted_hang_work);
	schedule_work(&r.work);
	/* Uninterruptible (D state): with the defect, for ever. */
	wait_for_completion(&r.done);
	flush_work(&r.work);
	destroy_work_on_stack(&r.work);
	return count;
}

/*
 * 16 KiB: past the slab caches, from the page allocator (kmalloc_large), so no neighbouring slab
 * object holds a stale free pointer to it. kmemleak still misses it now and then (a copy of its
 * address somewhere it scans counts as a reference): 2 runs in 8 on fresh machines, against 2 in
 * 6 for a 208-byte request in kmalloc-256.
 */
struct planted_leaked {
	char text[16384 - sizeof(unsigned long)];
	unsigned long parsed;
};

static ssize_t leak_write(struct file *f, const char __user *from, size_t count, loff_t *pos)
{
	char buf[32], *rest;
	struct planted_leaked *req;
	int defect, err = planted_copy(buf, sizeof(buf), from, count);

	if (err)
		return err;
	defect = planted_mode(buf, &rest);
	if (defect < 0 || *rest)
		return -EINVAL;
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	strscpy(req->text, "no number here", sizeof(req->text));
	/* The request fails to parse, always: the error path. */
	err = kstrtoul(req->text, 10, &req->parsed);
	if (err) {
		/* The defect: the error path forgets to free the request. */
		if (!defect)
			kfree(req);
		return err;
	}
	kfree(req);
	return count;
}

static const struct file_operations hold_mutex_fops = { .owner = THIS_MODULE, .write = hold_mutex_write };
static const struct file_operations lock_page_fops = { .owner = THIS_MODULE, .write = lock_page_write };
static const struct file_operations hang_fops = { .owner = THIS_MODULE, .write = hang_write };
static const struct file_operations leak_fops = { .owner = THIS_MODULE, .write = leak_write };

static int __init planted_init(void)
{
	planted_dir = debugfs_create_dir("faultline_planted", NULL);
	if (IS_ERR(planted_dir))
		return PTR_ERR(planted_dir);
	debugfs_create_file("hold-mutex", 0200, planted_dir, NULL, &hold_mutex_fops);
	debugfs_create_file("lock-page", 0200, planted_dir, NULL, &lock_page_fops);
	debugfs_create_file("hang", 0200, planted_dir, NULL, &hang_fops);
	debugfs_create_file("leak", 0200, planted_dir, NULL, &leak_fops);
	return 0;
}

static void __exit planted_exit(void)
{
	debugfs_remove_recursive(planted_dir);
}

module_init(planted_init);
module_exit(planted_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("faultline proof tests: planted kernel defects (test-only)");
