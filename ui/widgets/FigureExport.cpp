#include "widgets/FigureExport.h"

#include <exception>

#include <QBuffer>
#include <QFileInfo>
#include <QPainter>
#include <QPdfWriter>
#include <QPixmap>
#include <QSvgGenerator>
#include <QWidget>
#include <qcustomplot.h>

#include "io/output_file.h"

namespace calm::ui {
namespace {

enum class Format { Svg, Pdf, Png, Unknown };

Format formatOf(const QString& path) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix == QLatin1String("svg")) return Format::Svg;
  if (suffix == QLatin1String("pdf")) return Format::Pdf;
  if (suffix == QLatin1String("png")) return Format::Png;
  return Format::Unknown;
}

QString unknownFormat(const QString& path) {
  return QStringLiteral("Cannot export “%1”: name the file .svg, .pdf or .png").arg(path);
}

// Paints into an SVG or PDF in memory with a Painter (QPainter, or QCustomPlot's
// QCPPainter); `paint` draws at the widget's size in pixels.
template <class Painter, class Paint>
QByteArray vectorBytes(Format format, const QSize& size, const QString& title, Paint paint) {
  QBuffer buffer;
  buffer.open(QIODevice::WriteOnly);
  if (format == Format::Svg) {
    QSvgGenerator svg;
    svg.setOutputDevice(&buffer);
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(title);
    Painter painter(&svg);
    paint(painter);
  } else {
    QPdfWriter pdf(&buffer);
    pdf.setTitle(title);
    pdf.setCreator(QStringLiteral("CALM Studio"));
    pdf.setResolution(96);  // one widget pixel per PDF pixel
    pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
    pdf.setPageSize(QPageSize(QSizeF(size), QPageSize::Unit(QPageSize::Point)));
    Painter painter(&pdf);
    // The page is in points (1/72 in) and the writer paints at 96 per inch.
    painter.scale(pdf.width() / double(size.width()), pdf.height() / double(size.height()));
    paint(painter);
  }
  return buffer.data();
}

QString write(const QString& path, const QByteArray& bytes) {
  try {
    calm::write_output_file(path.toStdString(), bytes.toStdString(), "the figure");
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

QByteArray pngBytes(const QPixmap& pixmap) {
  QBuffer buffer;
  buffer.open(QIODevice::WriteOnly);
  pixmap.save(&buffer, "PNG");
  return buffer.data();
}

}  // namespace

QString figureFileFilter() { return QStringLiteral("SVG (*.svg);;PDF (*.pdf);;PNG (*.png)"); }

QString saveFigure(QWidget* widget, const QString& path) {
  const Format format = formatOf(path);
  if (format == Format::Unknown) return unknownFormat(path);
  if (format == Format::Png) {
    // Twice the density, so that the figure stays sharp on a slide.
    QPixmap pixmap(widget->size() * 2);
    pixmap.setDevicePixelRatio(2.0);
    pixmap.fill(Qt::white);
    widget->render(&pixmap);
    return write(path, pngBytes(pixmap));
  }
  return write(path, vectorBytes<QPainter>(format, widget->size(), widget->windowTitle(), [&](QPainter& painter) {
                 widget->render(&painter, QPoint(), QRegion(), QWidget::DrawChildren);
               }));
}

QString savePlot(QCustomPlot* plot, const QString& path) {
  const Format format = formatOf(path);
  if (format == Format::Unknown) return unknownFormat(path);
  plot->replot(QCustomPlot::rpImmediateRefresh);
  if (format == Format::Png) return write(path, pngBytes(plot->toPixmap(plot->width(), plot->height(), 2.0)));
  return write(path, vectorBytes<QCPPainter>(format, plot->size(), QString(), [&](QCPPainter& painter) {
                 painter.setMode(QCPPainter::pmVectorized);
                 painter.setMode(QCPPainter::pmNoCaching);
                 plot->toPainter(&painter, plot->width(), plot->height());
               }));
}

}  // namespace calm::ui
