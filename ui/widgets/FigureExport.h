// Figures for slides and papers, in the format the file name ends with:
// .svg and .pdf as vectors, .png as pixels at twice the screen's density.
// A plot is drawn by QCustomPlot itself (its own vector output); any other
// widget (the coloured output) is painted through QPainter. Everything goes
// through write_output_file, so a failed export leaves no half file. Each
// returns "" or the error, naming the file.
#pragma once

#include <QString>

class QCustomPlot;
class QWidget;

namespace calm::ui {

QString saveFigure(QWidget* widget, const QString& path);
QString savePlot(QCustomPlot* plot, const QString& path);

// "SVG (*.svg);;PDF (*.pdf);;PNG (*.png)", for file dialogs.
QString figureFileFilter();

}  // namespace calm::ui
