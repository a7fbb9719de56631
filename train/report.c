/* train/report.c — CSV log and an SVG training curve, written directly. */
#include "train/report.h"
#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static void put_num(FILE *fp, double v, const char *fmt)
{
    if (isfinite(v))
        fprintf(fp, fmt, v);
}

static voz_status finish(struct voz_atomic_file *af, const char *path)
{
    if (ferror(af->fp)) {
        voz_atomic_abort(af);
        return voz_fail(VOZ_ERR_IO, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
    }
    return voz_atomic_commit(af);
}

voz_status voz_report_write_csv(const char *path, const struct voz_epoch_record *h, int n)
{
    struct voz_atomic_file af;
    voz_status s = voz_atomic_open(&af, path);
    if (s != VOZ_OK)
        return s;
    fputs("epoch,step,train_loss,dev_loss,dev_cer,dev_wer,lr,skipped,seconds\n", af.fp);
    for (int i = 0; i < n; i++) {
        fprintf(af.fp, "%d,%llu,", h[i].epoch, (unsigned long long)h[i].step);
        put_num(af.fp, h[i].train_loss, "%.6f");
        fputc(',', af.fp);
        put_num(af.fp, h[i].dev_loss, "%.6f");
        fputc(',', af.fp);
        put_num(af.fp, h[i].dev_cer, "%.6f");
        fputc(',', af.fp);
        put_num(af.fp, h[i].dev_wer, "%.6f");
        fprintf(af.fp, ",%.6g,%llu,%.1f\n", h[i].lr, (unsigned long long)h[i].skipped, h[i].seconds);
    }
    return finish(&af, path);
}

/* Plot area in SVG user units: a 720 x 400 canvas with margins for both axes. */
#define SVG_W 720
#define SVG_H 400
#define PX0 70.0
#define PX1 650.0
#define PY0 50.0
#define PY1 340.0

static double xpos(int epoch, int n) { return n <= 1 ? (PX0 + PX1) / 2 : PX0 + (PX1 - PX0) * (epoch - 1) / (n - 1); }

static void xml_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", fp);
        else if (*s == '>')
            fputs("&gt;", fp);
        else if (*s == '&')
            fputs("&amp;", fp);
        else
            fputc(*s, fp);
    }
}

/* A "nice" axis maximum: 1, 2 or 5 times a power of ten at or above v. */
static double nice_max(double v)
{
    if (!(v > 0) || !isfinite(v))
        return 1;
    double p = pow(10, floor(log10(v)));
    for (int k = 0; k < 3; k++) {
        double m = (k == 0 ? 1 : k == 1 ? 2 : 5) * p;
        if (m >= v)
            return m;
    }
    return 10 * p;
}

voz_status voz_report_write_svg(const char *path, const struct voz_epoch_record *h, int n, const char *title)
{
    struct voz_atomic_file af;
    voz_status s = voz_atomic_open(&af, path);
    if (s != VOZ_OK)
        return s;
    FILE *fp = af.fp;
    double lmax = 0, wmax = 0;
    int have_wer = 0;
    for (int i = 0; i < n; i++) {
        if (isfinite(h[i].train_loss) && h[i].train_loss > lmax)
            lmax = h[i].train_loss;
        if (isfinite(h[i].dev_loss) && h[i].dev_loss > lmax)
            lmax = h[i].dev_loss;
        if (isfinite(h[i].dev_wer)) {
            have_wer = 1;
            if (h[i].dev_wer > wmax)
                wmax = h[i].dev_wer;
        }
    }
    lmax = nice_max(lmax);
    wmax = have_wer ? nice_max(wmax * 100) : 100; /* percent */
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n", SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"24\" "
                "text-anchor=\"middle\" font-size=\"15\">", SVG_W / 2);
    xml_text(fp, title ? title : "training curve");
    fputs("</text>\n", fp);
    /* Axes, grid and tick labels: loss on the left, WER % on the right. */
    fprintf(fp, "<g stroke=\"#888\" fill=\"none\"><rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\"/>",
            PX0, PY0, PX1 - PX0, PY1 - PY0);
    for (int k = 1; k < 5; k++) {
        double y = PY1 - (PY1 - PY0) * k / 5;
        fprintf(fp, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>", PX0, y, PX1, y);
    }
    fputs("</g>\n", fp);
    for (int k = 0; k <= 5; k++) {
        double y = PY1 - (PY1 - PY0) * k / 5;
        fprintf(fp, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f77b4\">%g</text>", PX0 - 6, y + 4,
                lmax * k / 5);
        fprintf(fp, "<text x=\"%.0f\" y=\"%.1f\" fill=\"#d62728\">%g</text>\n", PX1 + 6, y + 4, wmax * k / 5);
    }
    int step = n > 10 ? (n + 9) / 10 : 1;
    for (int e = 1; e <= n; e += step)
        fprintf(fp, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>", xpos(e, n), PY1 + 18, e);
    fprintf(fp, "\n<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">epoch</text>\n", (PX0 + PX1) / 2, PY1 + 40);
    fprintf(fp, "<text x=\"18\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#1f77b4\" transform=\"rotate(-90 18 %.0f)\">"
                "CTC loss per utterance</text>\n", (PY0 + PY1) / 2, (PY0 + PY1) / 2);
    fprintf(fp, "<text x=\"%d\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#d62728\" transform=\"rotate(90 %d %.0f)\">"
                "dev WER %%</text>\n", SVG_W - 16, (PY0 + PY1) / 2, SVG_W - 16, (PY0 + PY1) / 2);
    /* Series: train loss (solid blue), dev loss (dashed blue), dev WER (red). */
    for (int series = 0; series < 3; series++) {
        const char *style = series == 0 ? "stroke=\"#1f77b4\" stroke-width=\"2\""
                          : series == 1 ? "stroke=\"#1f77b4\" stroke-dasharray=\"5,4\""
                                        : "stroke=\"#d62728\" stroke-width=\"2\"";
        int started = 0;
        for (int i = 0; i < n; i++) {
            double v = series == 0 ? h[i].train_loss : series == 1 ? h[i].dev_loss : h[i].dev_wer * 100;
            double top = series == 2 ? wmax : lmax;
            if (!isfinite(v))
                continue;
            double y = PY1 - (PY1 - PY0) * (v / top);
            if (!started)
                fprintf(fp, "<polyline fill=\"none\" %s points=\"", style);
            fprintf(fp, "%s%.1f,%.1f", started ? " " : "", xpos(h[i].epoch, n), y);
            started = 1;
        }
        if (started)
            fputs("\"/>\n", fp);
    }
    fprintf(fp, "<g font-size=\"11\"><line x1=\"%.0f\" y1=\"40\" x2=\"%.0f\" y2=\"40\" stroke=\"#1f77b4\" "
                "stroke-width=\"2\"/><text x=\"%.0f\" y=\"44\">train loss</text>", PX0 + 10, PX0 + 30, PX0 + 35);
    fprintf(fp, "<line x1=\"%.0f\" y1=\"40\" x2=\"%.0f\" y2=\"40\" stroke=\"#1f77b4\" stroke-dasharray=\"5,4\"/>"
                "<text x=\"%.0f\" y=\"44\">dev loss</text>", PX0 + 110, PX0 + 130, PX0 + 135);
    fprintf(fp, "<line x1=\"%.0f\" y1=\"40\" x2=\"%.0f\" y2=\"40\" stroke=\"#d62728\" stroke-width=\"2\"/>"
                "<text x=\"%.0f\" y=\"44\">dev WER</text></g>\n", PX0 + 200, PX0 + 220, PX0 + 225);
    fputs("</svg>\n", fp);
    return finish(&af, path);
}
