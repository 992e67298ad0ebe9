# CMake package configuration of rmodel, shipped inside the Python package.
#
#   find_package(rmodel REQUIRED)       # rmodel_DIR: `python3 -m rmodel.cmake_dir` prints it
#   rmodel_generate(TARGET jet_model MODEL jet.onnx)
#   target_link_libraries(app PRIVATE jet_model)
#
# See RModelGenerate.cmake for the options of rmodel_generate().
include("${CMAKE_CURRENT_LIST_DIR}/RModelGenerate.cmake")
set(rmodel_FOUND TRUE)
